// Starts the SPA. An external module (the server's content security policy
// allows no inline script); scripts/build-spa.sh fills in the hashed names.
import init from '/{{JS}}';

init({ module_or_path: '/{{WASM}}' }).catch((error) => {
  console.error('Keyward could not start', error);
  const p = document.createElement('p');
  p.className = 'boot-error';
  p.textContent = 'Keyward could not start. Reload the page; if that does not help, check the server.';
  document.body.append(p);
});
