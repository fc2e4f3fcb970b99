"""The deployer: config model, release build, plan, promote, approve, rollback, status, drift."""
