# docs/: installed to $(docdir)
dist_doc_DATA += docs/HACKING.md
dist_doc_DATA += docs/configuration.md
