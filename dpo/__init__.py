"""The core every entrypoint uses: settings, database, services, chain, bus, auth."""
