from rest_framework import serializers

from vibegrapher.fields import StrictBooleanField


class TestRunSerializer(serializers.Serializer[None]):
    __test__ = False

    quick_only = StrictBooleanField(required=False, default=False)


class HeadTestRunSerializer(serializers.Serializer[None]):
    quick_only = StrictBooleanField(required=False, default=False)
    # One test case only (the page's per-test "Run"); all of them when omitted.
    test_id = serializers.UUIDField(required=False)
