"""Simulators of the outside world on 127.0.0.1, for development and tests only.

`sandbox.server.Sandbox` serves the ECB feed, Xetra, Euroclear, Clearstream (with PMI) and
Omnisend under one port (`/ecb`, `/xetra`, `/euroclear`, `/clearstream`, `/omnisend/v3`);
each keeps state tests can plant and a fault plan (sandbox.faults). Production code never
imports this package.
"""
