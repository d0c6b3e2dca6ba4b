# tests/bench: chat-bench load generator and the no-database baseline server
