"""Integrations with other Django packages, one module each, all optional.

Each ends a sign-in of that package in one of the app's sessions, through `tokens.services`
only: nothing here imports the app's views. Their packages are extras of the wheel
(`django-tokens[allauth]`, `django-tokens[ninja]`); the app works without them.
"""
