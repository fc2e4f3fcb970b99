"""`python -m deployer` is the same as the `deployer` command."""

from deployer.cli import main

main()
