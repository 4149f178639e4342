"""Reading the response headers that tests check directive by directive."""


def content_security_policy(response):
    """The Content-Security-Policy as {directive: [sources]}."""
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives
