from inoclab.stages import run

run()
