from clip_pipeline.cli import main

main()
