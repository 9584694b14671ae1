"""`sensorpipe report`: one self-contained HTML page from the outputs of earlier runs."""
