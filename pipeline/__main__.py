from pipeline.stages import main

main()
