"""Silent-refresh JWT sessions for Django REST framework, built on simplejwt."""
