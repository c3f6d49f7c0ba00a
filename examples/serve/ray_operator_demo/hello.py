"""A Ray Serve application that answers every HTTP request with a greeting.

The RayService examples deploy it with `import_path: ray_operator_demo.hello:app` (greeting "hello") or, with
arguments, `import_path: ray_operator_demo.hello:build` and `args: {greeting: ...}`. It needs only `ray[serve]`.
"""

from ray import serve


@serve.deployment
class Hello:
    """Replies with the greeting it was built with."""

    def __init__(self, greeting: str = "hello"):
        self._greeting = greeting

    async def __call__(self, request) -> str:
        return self._greeting


def build(args: dict) -> serve.Application:
    """Application builder: `args` comes from the application's `args` in serveConfigV2."""
    return Hello.bind(str(args.get("greeting", "hello")))


app = Hello.bind()
