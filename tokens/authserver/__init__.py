"""The authorization server's side for the site's other services.

What another service of the site calls to verify and check the site's tokens: the JWK Set and
the RFC 8414 metadata (`views`, `urls`), RFC 7662 introspection (`introspection`) and the
service clients allowed to call it (`clients`). Its counterpart, what such a service installs,
is `tokens.resource`. The signing keys themselves are the core's (`tokens.keys`): every token
the app mints is signed with them, whether or not another service ever reads it.
"""
