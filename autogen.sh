#!/bin/sh
# Generate ./configure from a git checkout (release tarballs already have it).
set -e
cd "$(dirname "$0")"
mkdir -p m4
exec autoreconf -fi
