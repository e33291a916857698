"""The benchmark: the bridge side by side with a do-nothing ceiling and the naive publisher."""
