// A third-party OCPP 1.6J client (npm ocpp-rpc, strictMode: every request it
// sends and every reply it receives is checked against the official 1.6
// schemas) runs a whole charging session against the real gateway.
// Usage: node strict_client.js PORT CHARGER_ID ID_TAG
const { RPCClient } = require('ocpp-rpc');
const [port, id, tag] = process.argv.slice(2);

function expect(cond, what) {
  if (!cond) throw new Error('unexpected: ' + what);
}

(async () => {
  const cli = new RPCClient({ endpoint: `ws://127.0.0.1:${port}/ocpp`, identity: id,
    protocols: ['ocpp1.6'], strictMode: true, reconnect: false });
  await cli.connect();
  expect(cli.protocol === 'ocpp1.6', 'subprotocol ' + cli.protocol);
  const boot = await cli.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'X1' });
  expect(boot.status === 'Accepted' && boot.currentTime.endsWith('Z'), 'boot ' + JSON.stringify(boot));
  await cli.call('Heartbeat', {});
  await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing' });
  const auth = await cli.call('Authorize', { idTag: tag });
  expect(auth.idTagInfo.status === 'Accepted', 'authorize ' + JSON.stringify(auth));
  const start = await cli.call('StartTransaction', { connectorId: 1, idTag: tag, meterStart: 1000,
    timestamp: new Date().toISOString() });
  expect(start.transactionId > 0 && start.idTagInfo.status === 'Accepted', 'start ' + JSON.stringify(start));
  await cli.call('MeterValues', { connectorId: 1, transactionId: start.transactionId, meterValue: [{
    timestamp: new Date().toISOString(), sampledValue: [{ value: '1500' }] }] });
  const stop = await cli.call('StopTransaction', { transactionId: start.transactionId, meterStop: 2500,
    timestamp: new Date().toISOString(), idTag: tag });
  expect(stop.idTagInfo.status === 'Accepted', 'stop ' + JSON.stringify(stop));
  await cli.call('DataTransfer', { vendorId: 'acme' });
  await cli.call('FirmwareStatusNotification', { status: 'Installed' });
  await cli.call('DiagnosticsStatusNotification', { status: 'Idle' });
  await cli.close();
  console.log(`strict client: session ${start.transactionId} ok`);
})().catch(e => { console.error('strict client FAILED:', e.message || e); process.exit(1); });
