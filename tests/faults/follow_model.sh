#!/bin/sh
# The randomized follower test (tests/unit/test_follow_model) with random
# seeds and longer runs than make check's fixed seed. A failure prints the
# seed and the command that reproduces it.
set -e
: "${top_builddir:=.}"
runs=${CHAT_FOLLOW_RUNS:-40}
steps=${CHAT_FOLLOW_STEPS:-20000}
seed=${CHAT_FOLLOW_SEED:-random}
echo "follow model: $runs runs of $steps polls, seed $seed"
CHAT_FOLLOW_SEED=$seed CHAT_FOLLOW_RUNS=$runs CHAT_FOLLOW_STEPS=$steps \
	"$top_builddir/tests/unit/test_follow_model"
