"""A small second service that accepts the demo site's access tokens (docs/sso.md)."""
