from rest_framework.parsers import JSONParser


class AnyContentTypeJSONParser(JSONParser):
    """Reads the body as JSON whatever Content-Type says, as grpc-gateway does.

    ``curl -d '{...}'`` sends ``application/x-www-form-urlencoded``; upstream
    clients and docs rely on that working. A body that is not JSON is still a
    400 with code 3.
    """

    media_type = "*/*"
