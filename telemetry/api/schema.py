"""pydantic's JSON Schema (2020-12) turned into OpenAPI 3.0 schema objects.

drf-spectacular's pydantic extension passes pydantic's output through unchanged; OpenAPI 3.0
knows no ``examples`` list, ``const`` or ``{"type": "null"}``, so this extension (matched
before the built-in one) rewrites those three, keeping every limit intact."""

from __future__ import annotations

from drf_spectacular.contrib.pydantic import PydanticExtension


def to_openapi30(node):
    if isinstance(node, list):
        return [to_openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_openapi30(value) for key, value in node.items()}
    if "examples" in node and isinstance(node["examples"], list):
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for combinator in ("anyOf", "oneOf"):
        options = node.get(combinator)
        if isinstance(options, list) and any(o == {"type": "null"} for o in options):
            rest = [o for o in options if o != {"type": "null"}]
            node.pop(combinator)
            if len(rest) == 1:
                only = rest[0]
                if "$ref" in only:
                    node["allOf"] = [only]
                else:
                    node.update(only)
            else:
                node[combinator] = rest
            node["nullable"] = True
    if "$ref" in node and len(node) > 1:
        # OpenAPI 3.0 ignores siblings of $ref; wrap so defaults and descriptions survive.
        node = {"allOf": [{"$ref": node.pop("$ref")}], **node}
    return node


class PydanticOpenAPI30Extension(PydanticExtension):
    priority = 1

    def map_serializer(self, auto_schema, direction):
        from drf_spectacular.plumbing import ResolvedComponent
        from pydantic.json_schema import model_json_schema

        schema = model_json_schema(self.target, ref_template="#/components/schemas/{model}", mode="validation")
        for sub_name, sub_schema in schema.pop("$defs", {}).items():
            component = ResolvedComponent(
                name=sub_name, type=ResolvedComponent.SCHEMA, object=sub_name, schema=to_openapi30(sub_schema)
            )
            auto_schema.registry.register_on_missing(component)
        return to_openapi30(schema)
