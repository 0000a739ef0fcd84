"""pytest plugins of the test suite, registered in tests/conftest.py: fixtures a test asks for by name.

- ``in_process_treadmill``: the default treadmill (real pyftms, FtmsLink and runner over treadsim's
  peripheral, only bleak's transport replaced), parametrised over treadsim's quirk profiles;
- ``stand_in_link``: a runner on a link that answers each command at once as the test scripts it, for
  the runner's own rules where a treadmill would only add timing;
- ``virtual_adapter``: treadsim behind a private dbus-daemon, for the end-to-end subset;
- ``mosquitto``: a real broker on a free port;
- ``markers``: marks every test by the processes its fixtures start (``dbus``, ``mosquitto``, ``slow``);
- ``leak_guard``: fails a test that leaves a task running or a timer scheduled behind it (autouse).
"""
