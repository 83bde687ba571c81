"""Sign in by a link sent by email, ending in one of the app's sessions (`tokens.services.login`).

A sign-in of the site's own: `views.py` checks the link, `tokens.services.login()` starts the
session. Copy it into a site and include `urls.py` (docs/integrations.md, "Any other sign-in").
"""
