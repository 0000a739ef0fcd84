"""`retrowalk demo`: a simulated treadmill, a broker and the real service running one guided session.

`app` runs it, `view` shows it (rich's live view or plain lines), `broker` starts its MQTT broker. This
is the only product code that imports treadsim, amqtt or rich; the rest of retrowalk runs without them.
"""

from retrowalk.demo.app import run

__all__ = ["run"]
