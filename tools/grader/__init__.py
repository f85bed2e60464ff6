"""The class grader behind `make grade` (tools/grade.py). Trusted code only: student code
never imports it. In the order a submission meets them:

    collect.py     find each student's notebook in a folder or a .zip
    repair.py      rebuild the notebook to run from the instructor's (never trust metadata)
    sandbox.py     a Jupyter kernel in a bubblewrap sandbox, with its limits
    kernel_boot.py what the sandbox runs: an audit hook, then the IPython kernel
    execute.py     run the cells; survive hangs, crashes and the caps; probe after each
    integrity.py   audit log, integrity probe and reading the code: signs of tampering
    pipeline.py    score, status, gradebook, in parallel for the whole class
    gradebook.py   nbgrader's gradebook, written by the parent alone
    report.py      grades.csv, report.html and each student's feedback page
    results.py     the records passed between them
"""
