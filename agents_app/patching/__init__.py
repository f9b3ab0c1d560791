"""Apply a model's patch to the project's one file, or say exactly why not."""
