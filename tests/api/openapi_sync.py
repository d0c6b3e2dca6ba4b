"""Every route of chat-api's router (api/router.c) is documented in
docs/openapi.yaml, and every operation documented there is routed.
Path parameters compare by position ({id} and {room_id} are alike)."""

import os
import re
import sys

SRC = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", ".."))
METHODS = ("get", "post", "patch", "delete", "put")


def norm(path):
    return re.sub(r"\{[^}]*\}", "{}", path)


def routed():
    with open(os.path.join(SRC, "api", "router.c")) as f:
        text = f.read()
    table = text[text.index("routes[] = {"):]
    table = table[:table.index("};")]
    out = set()
    for method, pattern in re.findall(r'\{"([A-Z]+)",\s*"([^"]+)"', table):
        out.add((method, norm(pattern)))
    return out


def documented():
    out = set()
    in_paths = False
    path = None
    with open(os.path.join(SRC, "docs", "openapi.yaml")) as f:
        for line in f:
            if re.match(r"^paths:\s*$", line):
                in_paths = True
                continue
            if in_paths and re.match(r"^\S", line):
                in_paths = False
            if not in_paths:
                continue
            m = re.match(r"^  (/\S*):\s*$", line)
            if m:
                path = m.group(1)
                continue
            m = re.match(r"^    ([a-z]+):\s*$", line)
            if m and path and m.group(1) in METHODS:
                out.add((m.group(1).upper(), norm(path)))
    return out


def main():
    r, d = routed(), documented()
    try:
        import yaml  # optional: a full parse where PyYAML is installed
    except ImportError:
        yaml = None
    if yaml:
        with open(os.path.join(SRC, "docs", "openapi.yaml")) as f:
            doc = yaml.safe_load(f)
        parsed = {(m.upper(), norm(p)) for p, ops in doc["paths"].items()
                  for m in ops if m in METHODS}
        if parsed != d:
            print("the line scan and the YAML parse disagree: %r" % sorted(parsed ^ d))
            return 1
    if not r:
        print("no routes found in api/router.c")
        return 1
    if not d:
        print("no operations found in docs/openapi.yaml")
        return 1
    missing_doc = sorted(r - d)
    missing_route = sorted(d - r)
    for m, p in missing_doc:
        print("routed but not in docs/openapi.yaml: %s %s" % (m, p))
    for m, p in missing_route:
        print("in docs/openapi.yaml but not routed: %s %s" % (m, p))
    if missing_doc or missing_route:
        return 1
    try:  # a full check of the document where the validator is installed
        from openapi_spec_validator import validate
    except ImportError:
        validate = None
    if validate and yaml:
        with open(os.path.join(SRC, "docs", "openapi.yaml")) as f:
            validate(yaml.safe_load(f))
        print("docs/openapi.yaml is valid OpenAPI")
    print("%d operations, router and OpenAPI agree" % len(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
