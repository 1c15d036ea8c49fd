import sys

from inoclab import warm
from inoclab.stages import run

warm.forward(sys.argv[1:])  # in a warm server where one is named ($INOCLAB_WARM); returns to run cold
run()
