// Cap warnings and alarms are heard as well as seen: a beep from the page itself (Web Audio, no sound
// files) and, where the browser has a voice, the words spoken.
let audio = null;

export function beep(times = 1) {
  try {
    audio ??= new AudioContext();
    for (let i = 0; i < times; i += 1) {
      const start = audio.currentTime + i * 0.35;
      const tone = audio.createOscillator();
      const volume = audio.createGain();
      tone.frequency.value = 880;
      volume.gain.setValueAtTime(0.4, start);
      volume.gain.setValueAtTime(0, start + 0.2);
      tone.connect(volume).connect(audio.destination);
      tone.start(start);
      tone.stop(start + 0.25);
    }
  } catch (error) {
    // A browser without audio (or one that blocks it before a first tap) still shows the warning.
    console.warn("cannot beep", error);
  }
}

export function announce(text) {
  if (!("speechSynthesis" in window)) return;
  speechSynthesis.speak(new SpeechSynthesisUtterance(text));
}
