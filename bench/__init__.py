"""The benchmark harness (`bench/run`): the platform's hot paths measured against floors."""
