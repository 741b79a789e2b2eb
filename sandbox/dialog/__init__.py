"""The Facebook SDK stand-in (/sandbox/sdk.js) and the simulated Embedded Signup dialog."""
