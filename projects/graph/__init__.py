"""A workflow file's graph: `reader` reads it from the code (`ast` only), `render` draws
it (Graphviz SVG, Mermaid), `schema` describes the answers in the OpenAPI document, and
`service` serves a project's graph at a commit and a change's graph diff."""
