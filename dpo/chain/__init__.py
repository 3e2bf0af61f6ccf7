"""Chain access: the contracts' compiled artefacts and their deployment."""
