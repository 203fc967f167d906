from knitctl.cli.main import run

run()
