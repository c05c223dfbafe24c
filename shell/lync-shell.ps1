#Requires -Version 5.1
<#
.SYNOPSIS
    deprov's Lync Management Shell worker: runs allowlisted Lync / Skype for Business cmdlets for
    the deprov portal, one call at a time, speaking protocol 1 (shell/PROTOCOL.md) on stdin and
    stdout.

.DESCRIPTION
    The portal starts this script (locally with powershell.exe or pwsh, or through SSH with a
    forced command) and keeps it running: loading the Lync module takes 10-20 s. Every call is a
    cmdlet name and named parameters, passed as data (splatting): never script text, never
    Invoke-Expression. Only the cmdlets and parameter names in $Allowed run. Results are
    projected to plain fields before ConvertTo-Json. Anything else that writes to the console
    goes to stderr, which the portal logs and never parses.

    NOT RUN HERE: deprov's tests cannot run PowerShell. This script is syntax-checked and its
    allowlist is compared with the portal's cmdlet model by the test command; its behaviour is
    tested through a stand-in that speaks the same protocol (`deprov shell-stand-in`). Try it on
    your deployment with a ping and a Get-CsUser first (README: "Connecting the Lync shell").

.PARAMETER ConnectionUri
    Open one remote session to a pool, e.g. https://pool01.contoso.com/OcsPowershell, instead of
    loading the module locally. The credential then arrives as the first line on stdin:
    {"credential": {"user": "CONTOSO\svc-deprov", "password": "..."}}
#>
[CmdletBinding()]
param(
    [string] $ConnectionUri = ''
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$InformationPreference = 'SilentlyContinue'
$VerbosePreference = 'SilentlyContinue'

# The protocol channel is the raw standard output, opened before anything else can print: every
# other console write (a module's banner, a stray Write-Host) is sent to standard error instead.
$utf8 = New-Object System.Text.UTF8Encoding($false)
$protocol = New-Object System.IO.StreamWriter([Console]::OpenStandardOutput(), $utf8)
$protocol.AutoFlush = $true
[Console]::SetOut([Console]::Error)
$requests = New-Object System.IO.StreamReader([Console]::OpenStandardInput(), $utf8)

# What may run, and with which parameters. Compared with the portal's cmdlet model by a test
# (server/src/backend/shell/allowlist.rs): keep one entry per line.
$Allowed = @{
    'Get-CsUser'                   = @('Identity')
    'Get-CsClientCertificate'      = @('Identity')
    'Set-CsUser'                   = @('Identity', 'Enabled', 'SipAddress')
    'Disable-CsUser'               = @('Identity')
    'Enable-CsUser'                = @('Identity', 'SipAddress', 'RegistrarPool')
    'Revoke-CsClientCertificate'   = @('Identity')
    'Export-CsUserData'            = @('PoolFqdn', 'UserFilter', 'FileName')
    'Update-CsUserData'            = @('Filename', 'UserFilter')
    'Grant-CsConferencingPolicy'   = @('Identity', 'PolicyName')
    'Grant-CsExternalAccessPolicy' = @('Identity', 'PolicyName')
    'Grant-CsClientPolicy'         = @('Identity', 'PolicyName')
    'Grant-CsVoicePolicy'          = @('Identity', 'PolicyName')
    'Grant-CsArchivingPolicy'      = @('Identity', 'PolicyName')
    'Grant-CsMobilityPolicy'       = @('Identity', 'PolicyName')
    'Grant-CsPresencePolicy'       = @('Identity', 'PolicyName')
    'Grant-CsPinPolicy'            = @('Identity', 'PolicyName')
}

function Send-Message([hashtable] $Message) {
    $protocol.WriteLine(($Message | ConvertTo-Json -Compress -Depth 8))
}

function Send-Failure([object] $Id, [string] $Kind, [string] $Text, [string] $Fqid = '') {
    Send-Message @{ id = $Id; ok = $false; error = @{ kind = $Kind; message = $Text; fqid = $Fqid } }
}

# A moment as the portal reads it (RFC 3339, UTC), or $null.
function ConvertTo-Moment([object] $Value) {
    if ($null -eq $Value) { return $null }
    return ([datetime] $Value).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
}

# The first of several property names an object has (cmdlet output differs between versions).
function Get-FirstProperty([object] $Object, [string[]] $Names) {
    foreach ($name in $Names) {
        $property = $Object.PSObject.Properties[$name]
        if ($null -ne $property -and $null -ne $property.Value) { return $property.Value }
    }
    return $null
}

# Plain fields only: ConvertTo-Json truncates deeper objects silently.
function ConvertTo-PlainOutput([string] $Cmdlet, [object[]] $Objects) {
    switch ($Cmdlet) {
        'Get-CsUser' {
            $user = @($Objects)[0]
            if ($null -eq $user) { return $null }
            $policies = @{}
            foreach ($kind in 'Conferencing', 'ExternalAccess', 'Client', 'Voice', 'Archiving', 'Mobility', 'Presence', 'Pin') {
                $assigned = Get-FirstProperty $user @("${kind}Policy")
                if ($null -ne $assigned) { $policies[$kind] = [string] $assigned }
            }
            return @{
                identity                 = [string] $user.Identity
                sip_address              = [string] $user.SipAddress
                enabled                  = [bool] $user.Enabled
                registrar_pool           = [string] (Get-FirstProperty $user @('RegistrarPool'))
                hosting_provider         = [string] (Get-FirstProperty $user @('HostingProvider'))
                line_uri                 = [string] (Get-FirstProperty $user @('LineURI'))
                enterprise_voice_enabled = [bool] (Get-FirstProperty $user @('EnterpriseVoiceEnabled'))
                policies                 = $policies
            }
        }
        'Get-CsClientCertificate' {
            $certificates = @()
            foreach ($certificate in @($Objects)) {
                if ($null -eq $certificate) { continue }
                $certificates += @{
                    serial_number = [string] (Get-FirstProperty $certificate @('SerialNumber', 'Thumbprint', 'Identity'))
                    issued        = ConvertTo-Moment (Get-FirstProperty $certificate @('PublicationDate', 'ValidFrom', 'NotBefore'))
                    expires       = ConvertTo-Moment (Get-FirstProperty $certificate @('ExpirationDate', 'ValidTo', 'NotAfter'))
                }
            }
            return , $certificates
        }
        default {
            # Changing cmdlets print nothing worth keeping; their text, if any, is kept as text.
            $text = @($Objects | Where-Object { $null -ne $_ } | ForEach-Object { [string] $_ })
            if ($text.Count -eq 0) { return $null }
            return ($text -join "`n")
        }
    }
}

# Which of the protocol's error kinds a PowerShell error is.
function Get-ErrorKind([System.Management.Automation.ErrorRecord] $Record) {
    $id = [string] $Record.FullyQualifiedErrorId
    $text = [string] $Record.Exception.Message
    if ($Record.Exception -is [System.Management.Automation.ParameterBindingException]) { return 'invalid_parameter' }
    if ($Record.Exception -is [System.UnauthorizedAccessException] -or $text -match 'Access is denied|insufficient access') { return 'access_denied' }
    if ($id -match 'NotFound' -or $text -match 'Management object not found|not found') { return 'not_found' }
    return 'cmdlet_failed'
}

function Invoke-Allowed([object] $Request) {
    $id = $Request.id
    $name = [string] $Request.cmdlet
    if (-not $Allowed.ContainsKey($name)) {
        Send-Failure $id 'not_allowed' "The worker does not run '$name'."
        return
    }
    $splat = @{}
    if ($null -ne $Request.PSObject.Properties['parameters'] -and $null -ne $Request.parameters) {
        foreach ($parameter in $Request.parameters.PSObject.Properties) {
            if ($Allowed[$name] -notcontains $parameter.Name) {
                Send-Failure $id 'not_allowed' "The worker does not pass -$($parameter.Name) to $name."
                return
            }
            $value = $parameter.Value
            if (-not ($value -is [string] -or $value -is [bool])) {
                Send-Failure $id 'invalid_parameter' "-$($parameter.Name) must be a string or a boolean."
                return
            }
            $splat[$parameter.Name] = $value
        }
    }
    if (-not $name.StartsWith('Get-')) {
        # Nobody is at a console to answer a prompt.
        $splat['Confirm'] = $false
    }
    $callErrors = $null
    $callWarnings = $null
    try {
        # Non-terminating errors from imported commands do not reach catch: collect them all.
        $objects = @(& $name @splat -ErrorAction Continue -ErrorVariable callErrors `
                -WarningAction SilentlyContinue -WarningVariable callWarnings 2>$null)
    } catch {
        Send-Failure $id (Get-ErrorKind $_) ([string] $_.Exception.Message) ([string] $_.FullyQualifiedErrorId)
        return
    }
    if ($null -ne $callErrors -and $callErrors.Count -gt 0) {
        $first = $callErrors[0]
        Send-Failure $id (Get-ErrorKind $first) ([string] $first.Exception.Message) ([string] $first.FullyQualifiedErrorId)
        return
    }
    $warnings = @()
    if ($null -ne $callWarnings) { $warnings = @($callWarnings | ForEach-Object { [string] $_.Message }) }
    Send-Message @{ id = $id; ok = $true; output = (ConvertTo-PlainOutput $name $objects); warnings = $warnings }
}

# Load the cmdlets: one remote session to a pool, or the module on this host.
$session = $null
try {
    if ($ConnectionUri -ne '') {
        $first = $requests.ReadLine()
        if ($null -eq $first) { throw 'No credential arrived on stdin.' }
        $credential = ($first | ConvertFrom-Json).credential
        $secure = ConvertTo-SecureString ([string] $credential.password) -AsPlainText -Force
        $pscredential = New-Object System.Management.Automation.PSCredential([string] $credential.user, $secure)
        $credential = $null
        $session = New-PSSession -ConnectionUri $ConnectionUri -Credential $pscredential -Authentication Negotiate
        $null = Import-PSSession $session -CommandName @($Allowed.Keys) -AllowClobber -DisableNameChecking 3>$null
        $detail = "remote session to $ConnectionUri"
    } else {
        $module = $null
        foreach ($candidate in 'SkypeForBusiness', 'Lync') {
            if (Get-Module -ListAvailable -Name $candidate) {
                $module = Import-Module $candidate -PassThru -DisableNameChecking 3>$null
                break
            }
        }
        if ($null -eq $module) { throw 'Neither the SkypeForBusiness nor the Lync module is installed on this host.' }
        $detail = "$($module.Name) module $($module.Version)"
    }
} catch {
    Send-Message @{ hello = 'deprov-lync-shell'; protocol = 1; ready = $false; detail = [string] $_.Exception.Message }
    exit 2
}
Send-Message @{ hello = 'deprov-lync-shell'; protocol = 1; ready = $true; detail = $detail }

while ($true) {
    $line = $requests.ReadLine()
    if ($null -eq $line) { break }
    if ($line.Trim() -eq '') { continue }
    try {
        $request = $line | ConvertFrom-Json
    } catch {
        [Console]::Error.WriteLine("deprov-lync-shell: a request that is not JSON was ignored")
        continue
    }
    if ($null -ne $request.PSObject.Properties['ping']) {
        if ($null -ne $session -and $session.State -ne 'Opened') {
            Send-Failure $request.id 'cmdlet_failed' "The remote session is $($session.State)."
            exit 3
        }
        Send-Message @{ id = $request.id; ok = $true; output = @{ pong = $true }; warnings = @() }
        continue
    }
    Invoke-Allowed $request
}
if ($null -ne $session) { Remove-PSSession $session }
