"""What every app's API shares: JSON errors, async views, cursor pagination, request
bodies and fields, and the OpenAPI document's schema machinery and docs page. Imports
no app: the document's app-specific parts are listed in settings."""
