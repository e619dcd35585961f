from clusterdrop.cli import run

run()
