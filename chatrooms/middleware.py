"""Request checks that hold for the whole site."""

from django.core.exceptions import SuspiciousOperation


class RejectNulBytesMiddleware:
    """A NUL character in the query string is 400, before any view runs.

    No field of ours can hold one, and PostgreSQL refuses it in every text value ("A
    string literal cannot contain NUL characters"), which would otherwise surface as a
    500 wherever a parameter reaches a query. Under /bv/ the 400 is a google.rpc.Status.
    Bodies are the views' business: the API's JSON fields and Django's form fields
    refuse NUL themselves (reading request.POST here would parse bodies too early).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                raise SuspiciousOperation("A query parameter contains a NUL character.")
        return self.get_response(request)
