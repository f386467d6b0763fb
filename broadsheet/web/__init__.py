"""`broadsheet web`: the pages a subscriber reaches from the links in their digests.

server.py    the Starlette application (routes, error pages) and uvicorn
pages.py     the handlers: a token -> the subscriber (api.find) -> one api call -> a template
security.py  headers on every response, the bound on request bodies, the forms' CSRF field
views.py     the jinja2 templates (templates/) and the stylesheet (static/web.css)
fields.py    pure: a subscriber's choices as the preferences form's initial values
"""
