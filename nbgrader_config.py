"""nbgrader settings for this course.

Every `nbgrader ...` command run from the repository root reads this file, and so do
`tools/make_lessons.py` and the tests. Teachers edit the notebooks with answers in
solutions/; `make lessons` turns them into the student notebooks in lessons/.
"""

c = get_config()  # noqa: F821  (traitlets defines get_config when it runs this file)

# The name stored in the gradebook and shown in the formgrader; it also separates this
# course from others that share one nbgrader exchange folder.
c.CourseDirectory.course_id = "seeing-inside-cnns"

# nbgrader calls these "source" and "release"; the course uses names that say what they
# hold. Layout stays nbgrader's: <folder>/<NN_slug>/<NN_slug>.ipynb.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"

# Seconds each cell may run when validating or autograding (nbgrader's default is 30).
# Lesson cells train small networks and optimise images on a CPU, which can take a
# minute on a slow laptop; an endless loop still only costs two minutes per cell.
c.Execute.timeout = 120


def widget_cells_get_less_time(cell):
    """Explorer cells (ipywidgets `interact`) finish in a few seconds. Now and then the
    executor misses the end of a cell that creates widgets and waits for the whole timeout
    (jupyter/nbclient issue 312), although the cell's output is complete; 30 s keeps that
    rare wait short. Every other cell gets the 120 s above."""
    return 30 if "interact(" in cell.source else 120


c.Execute.timeout_func = widget_cells_get_less_time

# A student who deletes a test cell would otherwise get 0 points for it without any
# warning; with this the cell is put back and run when the notebook is autograded.
c.OverwriteCells.add_missing_cells = True

# What replaces an answer in the student notebooks. These are nbgrader's defaults, written
# out because the tests rely on them: the stub must fail every test that checks an answer.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Not set on purpose:
# - CourseDirectory.db_url: the gradebook is ./gradebook.db (ignored by git).
# - Exchange.root: only used when grading through a shared exchange folder on a server;
#   whoever runs one sets it in their own nbgrader_config.py.
