"""Background tasks do not pile up on the page that started them (gui/tasks.py)."""

from __future__ import annotations

from forge_gui.gui.tasks import BackgroundTask, start_task


def test_finished_tasks_leave_the_page(qtbot, wizard, gui_tools_dir):
    page = wizard.trainer_page
    page.tools_dir = gui_tools_dir
    for _ in range(4):  # "Choose a tools folder" again and again: a scan each time
        page.toolset = None
        page.find_tools()
        qtbot.waitUntil(lambda: page.toolset is not None, timeout=60000)
    results: list = []
    for n in range(20):
        start_task(page, lambda p, c, n=n: n, results.append, results.append)
    qtbot.waitUntil(lambda: len(results) == 20, timeout=15000)
    assert sorted(results) == list(range(20))
    qtbot.waitUntil(lambda: not page.findChildren(BackgroundTask), timeout=5000)


def test_a_running_task_stays_with_its_page_until_it_ends(qtbot, wizard):
    import threading

    page = wizard.name_page
    gate = threading.Event()
    done: list = []
    task = start_task(page, lambda p, c: gate.wait(10), done.append, done.append)
    assert task.parent() is page and task.running
    gate.set()
    qtbot.waitUntil(lambda: done == [True], timeout=15000)
    qtbot.waitUntil(lambda: task.parent() is None, timeout=5000)
    assert not task.running


def test_a_task_is_no_longer_running_when_its_answer_arrives(qtbot):
    """A page's slot that enables a button on the answer must find the task done: a click in
    the moment before `ended` came was ignored as "busy" (the GPU panel's Build button)."""
    seen: list = []
    task = BackgroundTask(lambda p, c: 1)
    task.succeeded.connect(lambda _value: seen.append(task.running))
    with qtbot.waitSignal(task.ended, timeout=5000):
        task.start()
    assert seen == [False]
