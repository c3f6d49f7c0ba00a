#!/usr/bin/env python3
"""Derives api-reference-fields.txt from the project's API reference (run once; the output is committed).

Usage: derive-api-reference-fields.py ../shared/spec/api-reference.md > api-reference-fields.txt

Every field of every kind is expanded to its full JSON path (nested ray.io types inline, arrays as `[]`), with the
JSON type the CRD schema must give it:
  string, integer, number, boolean   scalars (Kubernetes string types such as PullPolicy are strings)
  object                             an embedded Kubernetes object (PodTemplateSpec, Service, ...) or a ray.io struct
  map<string>                        `object (keys:string, values:string)`
  array<string>, array<object>       arrays of scalars or objects
"""
import re
import sys

SCALARS = {"string": "string", "integer": "integer", "float": "number", "boolean": "boolean"}
# Kubernetes named string types that appear in the reference.
K8S_STRINGS = {"PullPolicy", "ServiceType"}

text = open(sys.argv[1]).read()
out = []
for version, body in re.findall(r"^## ray\.io/(\w+)\n(.*?)(?=^## ray\.io/|\Z)", text, re.S | re.M):
    types = {}      # type name -> list of (json name, type text)
    enums = set()   # ray.io string enums (`_Underlying type:_ _string_`)
    for name, section in re.findall(r"^#### (\w+)\n(.*?)(?=^#### |\Z)", body, re.S | re.M):
        if "_Underlying type:_ _string_" in section:
            enums.add(name)
        fields = re.findall(r"^\| `(\w+)` _(.+?)_ \|", section, re.M)
        types[name] = fields

    def json_type(type_text):
        array = type_text.endswith(" array")
        base = type_text[: -len(" array")] if array else type_text
        link = re.match(r"\[(\w+)\]\((#?)", base)
        if base.startswith("object (keys:string, values:string)"):
            kind, nested = "map<string>", None
        elif base in SCALARS:
            kind, nested = SCALARS[base], None
        elif link and link.group(1) in enums:
            kind, nested = "string", None
        elif link and link.group(1) in K8S_STRINGS:
            kind, nested = "string", None
        elif link and link.group(2) == "#":
            kind, nested = "object", link.group(1)
        elif link:
            kind, nested = "object", None   # an embedded Kubernetes object
        else:
            raise SystemExit(f"unknown type {type_text!r}")
        return (f"array<{kind}>" if array else kind), nested, array

    def expand(kind, type_name, prefix):
        for name, type_text in types[type_name]:
            if name in ("apiVersion", "kind", "metadata") and not prefix:
                continue
            jtype, nested, array = json_type(type_text)
            path = f"{prefix}.{name}" if prefix else name
            out.append(f"{version} {kind} {path} {jtype}")
            if nested:
                expand(kind, nested, path + ("[]" if array else ""))

    for kind in ("RayCluster", "RayJob", "RayService"):
        expand(kind, kind, "")

print("# The fields of the API reference (../shared/spec/api-reference.md) with the JSON type their CRD schema must have.")
print("# Derived once by derive-api-reference-fields.py; status fields (not in the reference) are listed by hand after the v1 fields.")
print("# Format: <version> <kind> <path> <type>; paths use `[]` for array items; types: string integer number boolean")
print("# object map<string> array<string> array<object> int-or-string.")
for line in out:
    print(line)
