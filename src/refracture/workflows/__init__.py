"""What users run on top of builds: ``reanalyze`` (the main analysis and every
variant side by side) and ``lint`` (the templates' numbers and names). Workflows
may import the build machinery and every stage below it."""
