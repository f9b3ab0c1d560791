"""Each project's git repository: its operations (`repository`), the database store
behind them when GIT_STORAGE=database (`storage`), and commit message trailers
(`trailers`)."""
