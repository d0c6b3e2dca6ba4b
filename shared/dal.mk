# shared/ database side (connection, queries, migrations, outbox follower)
