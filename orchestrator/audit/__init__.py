"""`looplab audit`: probe a running stack looplab did not start and report what it exposes
(docs/ARCHITECTURE.md, "audit"). `model` is the data, `findings` the pure rules that read a probed
matrix, `run` the job, `write_lab` the regression lab, `render` the formats."""
