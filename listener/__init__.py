"""The chain follower: head tracking, logs, decoding, reorgs, checkpoints."""
