from vprkit.cli import main

main()
