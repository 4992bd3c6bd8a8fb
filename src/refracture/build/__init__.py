"""The build machinery: the configuration (``refracture.yml``), the pipeline that
runs the stages, the rebuild stamp, provenance, the build folders, and the
executors that run independent pieces elsewhere. It may import every stage
(data, analysis, figures, report) and the common helpers, never the workflows or
the command line."""
