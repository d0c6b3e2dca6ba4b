# docs/: installed to $(docdir). Each area lists its own documents in its
# fragment for the tarball; the ones an operator reads are installed here.
dist_doc_DATA += docs/HACKING.md docs/configuration.md docs/api.md docs/openapi.yaml \
	docs/protocol.md docs/relay.md docs/security.md docs/web-client.md
