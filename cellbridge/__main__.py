from cellbridge.cli import main

main()
